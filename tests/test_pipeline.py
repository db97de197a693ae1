"""The one check path: typed, picklable settings and requests run by `pipeline.run_check`."""

from __future__ import annotations

import pickle

import pytest
from guard_helpers import B_WINS, mj_for, verdict_text
from loopback import Reply

import judgeguard as jg
from judgeguard.pipeline import CheckRequest, CheckSettings, run_check


async def test_a_request_with_the_raw_output_is_parsed_under_the_settings_spec(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    settings = CheckSettings(metajudge=mj_for(loopback_llm))
    check = await run_check(CheckRequest(output=verdict_text()), settings)
    assert check.status == "consistent" and check.judgment is not None
    assert check.judgment.verdict.render() == "B>>A"
    unparsed = await run_check(CheckRequest(output="no verdict in here"), settings)
    assert unparsed.status == "unparsed" and unparsed.judgment is None


async def test_a_request_with_a_parsed_judgment_is_not_parsed_again(loopback_llm):
    judgment = jg.parse(verdict_text())
    check = await run_check(CheckRequest(judgment, label="B>>A"), CheckSettings())
    assert (check.status, check.reason) == ("skipped", "no_metajudge")
    assert check.judgment is judgment and check.r_outcome == 1.0


def test_settings_and_requests_are_frozen_and_pickle(loopback_llm, tmp_path):
    settings = CheckSettings.resolve(
        metajudge=mj_for(loopback_llm), verdict="pairwise", cache=tmp_path / "c", sample=0.5
    )
    request = CheckRequest(output=verdict_text(), context={"question": "q"}, label="A>B", id=7)
    back_settings, back_request = pickle.loads(pickle.dumps((settings, request)))
    assert back_settings.metajudge.model == settings.metajudge.model
    assert back_settings.spec == settings.spec and back_settings.sample == 0.5
    assert back_request == request
    with pytest.raises(AttributeError):
        settings.sample = 1.0  # type: ignore[misc]


def test_resolve_refuses_options_that_cannot_work():
    for bad in ({"sample": 2.0}, {"offload": "gpu"}, {"on_unparsed": "ignore"}, {"cache": 3}):
        with pytest.raises(jg.GuardConfigError):
            CheckSettings.resolve(**bad)  # type: ignore[arg-type]
    with pytest.raises(jg.GuardConfigError, match="check_timeout"):
        CheckSettings.resolve(check_timeout=0)


async def test_a_check_longer_than_check_timeout_ends_check_timeout(loopback_llm):
    loopback_llm.responder = lambda body: Reply(content=B_WINS, delay=2.0)
    settings = CheckSettings(metajudge=mj_for(loopback_llm), check_timeout=0.2)
    check = await run_check(CheckRequest(output=verdict_text()), settings)
    assert (check.status, check.reason) == ("error", "check_timeout")


def test_a_checker_takes_settings_and_exposes_them(loopback_llm):
    settings = CheckSettings.resolve(metajudge=mj_for(loopback_llm), cache=False)
    checker = jg.Checker(settings)
    assert checker.settings is settings and checker.metajudge is settings.metajudge
    loopback_llm.responder = lambda body: B_WINS
    assert checker.submit(verdict_text(), wait=True).check(10).status == "consistent"


def test_the_gate_is_a_settings_field_defaulting_to_the_metajudges(loopback_llm):
    mj = mj_for(loopback_llm, review_threshold=0.6)
    assert CheckSettings().gate == jg.Gate()
    assert CheckSettings(metajudge=mj).gate is mj.gate
    strict = jg.Gate(review_threshold=0.9, on_error="zero")
    settings = CheckSettings.resolve(metajudge=mj, gate=strict, cache=False)
    assert settings.gate is strict
    assert pickle.loads(pickle.dumps(settings)).gate == strict  # it reaches a worker
    with pytest.raises(jg.GuardConfigError, match="gate="):
        CheckSettings.resolve(gate=0.5)  # type: ignore[arg-type]


async def test_a_check_that_timed_out_follows_the_gates_on_error(loopback_llm):
    loopback_llm.responder = lambda body: Reply(content=B_WINS, delay=2.0)
    gate = jg.Gate(on_error="zero")
    settings = CheckSettings(metajudge=mj_for(loopback_llm), check_timeout=0.2, gate=gate)
    check = await run_check(CheckRequest(output=verdict_text()), settings)
    assert (check.status, check.reason, check.reward) == ("error", "check_timeout", 0.0)
