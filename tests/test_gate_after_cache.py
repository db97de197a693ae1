"""The gate runs after the MetaJudge and after the cache (issue 12.3).

The MetaJudge answers; the gate (``jg.Gate``: review threshold, floor, failure policy)
turns an answer and a label into a reward. A guard with another gate or label on a
repeated output reuses the cached answer: counted as requests to the loopback server.
"""

import pytest
from guard_helpers import B_WINS, mj_for, verdict_text
from loopback import Reply

import judgeguard as jg
from judgeguard.metajudge import InvalidCheckInput

pytestmark = pytest.mark.usefixtures("isolated_judgeguard")


def _checked(mj, cache, gate=None, label=None):
    judge = jg.guard(lambda label=None: verdict_text(), metajudge=mj, cache=cache, gate=gate)
    return judge.run(label=label).check(30)


def test_another_gate_or_label_on_a_repeated_output_costs_no_call(loopback_llm, tmp_path):
    loopback_llm.responder = lambda body: B_WINS
    cache = jg.DiskCache(tmp_path / "c")
    mj = mj_for(loopback_llm)
    first = _checked(mj, cache, label="B>>A")
    assert first.cached is False
    assert (first.r_rationale, first.reward) == (pytest.approx(0.9), pytest.approx(0.9))
    assert first.needs_review is False
    strict = _checked(mj, cache, jg.Gate(review_threshold=0.95), label="B>>A")
    assert strict.cached is True and strict.needs_review is True
    assert strict.reward == pytest.approx(0.9)
    floored = _checked(mj, cache, jg.Gate(floor=0.5), label="B>>A")
    assert floored.cached is True and floored.calibrated is True
    assert floored.reward == pytest.approx(0.5 + 0.5 * 0.9)
    policy = _checked(mj, cache, jg.Gate(on_error="zero"), label="B>>A")
    assert policy.cached is True and policy.reward == pytest.approx(0.9)
    wrong_label = _checked(mj, cache, label="A>B")
    assert wrong_label.cached is True and (wrong_label.r_outcome, wrong_label.reward) == (0, 0)
    no_label = _checked(mj, cache)  # R_outcome: the verdict's own value (B>>A: 0 for A)
    assert no_label.cached is True and no_label.r_outcome == 0.0
    assert len(loopback_llm.requests) == 1


def test_checker_gate_and_the_metajudge_default_gate(loopback_llm, tmp_path):
    loopback_llm.responder = lambda body: B_WINS
    cache = jg.DiskCache(tmp_path / "c")
    lenient = mj_for(loopback_llm, gate=jg.Gate(review_threshold=0.0))
    assert _checked(lenient, cache).needs_review is False
    checker = jg.Checker(metajudge=lenient, cache=cache, gate=jg.Gate(review_threshold=0.95))
    check = checker.submit(verdict_text(), {"label": "B>>A"}).check(30)
    assert check.cached is True and check.needs_review is True and check.r_outcome == 1.0
    # the MetaJudge's shorthand options are its default gate, as before
    assert mj_for(loopback_llm, floor=0.25).gate == jg.Gate(floor=0.25)
    assert len(loopback_llm.requests) == 1


def test_the_metajudge_answers_and_its_check_is_gated(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    mj = mj_for(loopback_llm)
    judgment = jg.parse(verdict_text())
    answer = mj.answer(judgment)
    assert answer.status == "consistent" and answer.r_rationale == pytest.approx(0.9)
    assert (answer.r_outcome, answer.reward, answer.needs_review) == (None, None, False)
    gated = jg.Gate(floor=0.5).apply_to(answer, "B>>A")
    assert gated.reward == pytest.approx(0.95) and gated.calibrated is True
    check = mj.check(judgment, label="B>>A", gate=jg.Gate(review_threshold=0.95))
    assert check.needs_review is True and check.reward == pytest.approx(0.9)


def test_a_gate_given_twice_or_of_the_wrong_type_is_refused(loopback_llm):
    with pytest.raises(InvalidCheckInput, match="give the gate once"):
        mj_for(loopback_llm, gate=jg.Gate(), floor=0.1)
    with pytest.raises(jg.GuardConfigError, match=r"gate= must be a judgeguard\.Gate"):
        jg.guard(lambda: "x", gate=0.3)


@pytest.mark.parametrize(("on_error", "reward"), [("none", None), ("outcome", 1.0), ("zero", 0.0)])
def test_on_error_is_the_reward_of_a_failed_check(loopback_llm, on_error, reward):
    loopback_llm.responder = lambda body: Reply(status=500)
    gate = jg.Gate(on_error=on_error)
    check = _checked(mj_for(loopback_llm), False, gate, label="B>>A")
    assert check.status == "error" and check.needs_review is True
    assert check.reward == reward and check.r_outcome == 1.0


def test_a_check_that_never_ran_follows_the_failure_policy(loopback_llm):
    # a judgeguard-side failure (here: the context function raises) is a failed check too
    def broken(*args):
        raise RuntimeError("no context")

    judge = jg.guard(
        lambda: verdict_text(),
        metajudge=mj_for(loopback_llm),
        context=broken,
        cache=False,
        gate=jg.Gate(on_error="zero"),
    )
    check = judge.run().check(10)
    assert (check.status, check.reason, check.reward) == ("error", "bad_context", 0.0)
    assert len(loopback_llm.requests) == 0


def test_the_worker_process_gates_with_the_guards_gate(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    judge = jg.guard(
        lambda label: verdict_text(),
        metajudge=mj_for(loopback_llm),
        cache=False,
        offload="process",
        gate=jg.Gate(review_threshold=0.95, floor=0.5),
    )
    check = judge.run(label="B>>A").check(60)
    assert check.status == "consistent" and check.needs_review is True
    assert check.reward == pytest.approx(0.95) and check.calibrated is True
