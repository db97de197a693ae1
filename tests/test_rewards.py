"""reward_fn (TRL's reward_funcs), LLMJudge and verl's compute_score, on the loopback server."""

import asyncio
import json
import random

import pytest
from loopback import Reply
from reward_helpers import JUDGE_MODEL, responder, script, text_judge

import judgeguard as jg
from judgeguard import rewards

pytestmark = pytest.mark.usefixtures("isolated_judgeguard")
SPEC = "label:pass,fail"


@pytest.fixture
def server(loopback_llm):
    loopback_llm.responder = responder
    return loopback_llm


def mj(server, **kw):
    kw.setdefault("retries", 0)
    kw.setdefault("timeout", 5)
    return jg.MetaJudge("openai/judge-test", api_base=server.base_url, api_key="k", **kw)


def llm_judge(server, prompt="reference", **kw):
    return jg.LLMJudge(
        "openai/" + JUDGE_MODEL, prompt=prompt, api_base=server.base_url, api_key="k",
        retries=0, timeout=5, **kw,
    )  # fmt: skip


def mj_requests(server):
    return [r for r in server.requests if r.get("model") != JUDGE_MODEL]


def expected(completion, label=None):
    support, verdict = script(completion)
    r_rat = support if verdict == "pass" else round(1 - support, 6)
    r_out = float(verdict == label) if label else float(verdict == "pass")
    return r_rat * r_out


def test_rewards_in_input_order_whatever_order_checks_finish(server):
    n = 24
    completions = [
        f"c{i} support=0.{i % 9 + 1} verdict={'pass' if i % 3 else 'fail'}" for i in range(n)
    ]
    delays = [random.Random(i).uniform(0, 0.05) for i in range(n)]
    finished = []

    async def judge(prompt, completion, **row):
        await asyncio.sleep(delays[int(row["idx"])])
        finished.append(int(row["idx"]))
        return text_judge(prompt, completion)

    fn = jg.reward_fn(judge, metajudge=mj(server), verdict=SPEC, cache=False)
    out = fn([f"q{i}" for i in range(n)], completions, idx=list(range(n)))
    assert finished != sorted(finished)  # the checks did finish out of order
    assert out == pytest.approx([expected(c) for c in completions])
    checks = fn.last_checks
    assert [c.reward for c in checks] == out
    assert all(c.reward == pytest.approx(c.r_rationale * c.r_outcome) for c in checks)
    assert fn.__name__ == "judgeguard"
    report = fn.last_batch
    assert report.size == n and report.failed == 0 and report.duplicates == 0
    assert report.mean_r_rationale == pytest.approx(sum(c.r_rationale for c in checks) / n)
    metrics = fn.metrics()
    assert metrics["judgeguard/share_failed"] == 0.0
    assert metrics["judgeguard/mean_reward"] == pytest.approx(sum(out) / n)


def test_llm_judge_conversational_inputs_and_label_column(server):
    fn = jg.reward_fn(llm_judge(server), metajudge=mj(server), cache=False, name="gated")
    prompts = [
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": f"what is {i}+{i}?"},
        ]
        for i in range(4)
    ]
    completions = [
        [{"role": "assistant", "content": f"It is {2 * i}. support=0.{i + 5} verdict=pass"}]
        for i in range(4)
    ]
    labels = ["pass", "fail", "pass", "fail"]
    out = fn(prompts, completions, reference=["0", "2", "4", "6"], label=labels)
    texts = [c[0]["content"] for c in completions]
    assert out == pytest.approx([expected(t, lab) for t, lab in zip(texts, labels, strict=True)])
    assert fn.__name__ == "gated"
    # the judge saw the user turn, the last assistant message and the reference column
    judge_reqs = [r for r in server.requests if r.get("model") == JUDGE_MODEL]
    sent = {r["messages"][-1]["content"] for r in judge_reqs}
    assert any(
        "what is 3+3?" in s and "It is 6." in s and "[Reference answer]\n6" in s for s in sent
    )
    assert not any("be brief" in s for s in sent)
    # the MetaJudge got question, response and the reference answer as context
    mj_text = json.dumps(mj_requests(server)[0]["messages"])
    assert "QUESTION" in mj_text and "REFERENCE_ANSWER" in mj_text


def test_duplicates_are_checked_once_and_counted_then_cached(server):
    fn = jg.reward_fn(text_judge, metajudge=mj(server), verdict=SPEC)
    completions = ["x support=0.7 verdict=pass"] * 3 + ["y support=0.4 verdict=pass"]
    out = fn(["q"] * 4, completions)
    assert out == pytest.approx([0.7, 0.7, 0.7, 0.4])
    assert len(mj_requests(server)) == 2
    assert fn.last_batch.duplicates == 2 and fn.last_batch.unique == 2
    assert fn.last_batch.cache_hits == 0
    again = fn(["q"] * 4, completions)
    assert again == out and len(mj_requests(server)) == 2  # the disk cache answered
    assert fn.last_batch.cache_hits == 4 and fn.metrics()["judgeguard/cache_hits"] == 4.0


def test_failed_checks_give_none_by_default_or_the_policy(server):
    server.responder = lambda body: Reply(status=400)
    fn = jg.reward_fn(text_judge, metajudge=mj(server), verdict=SPEC, cache=False)
    assert fn(["q", "q"], ["a", "b"]) == [None, None]
    assert fn.last_batch.failed == 2 and fn.metrics()["judgeguard/share_failed"] == 1.0
    assert all(c.status == "error" for c in fn.last_checks)
    zero = jg.reward_fn(
        text_judge, metajudge=mj(server), verdict=SPEC, cache=False, on_error="zero"
    )
    assert zero(["q"], ["a verdict=pass"]) == [0.0]
    outcome = jg.reward_fn(
        text_judge, metajudge=mj(server), verdict=SPEC, cache=False, on_error="outcome"
    )
    assert outcome(["q"], ["a verdict=pass"]) == [1.0]


def test_a_failing_judge_or_unparsable_output_is_that_sample_none(server):
    def judge(prompt, completion, **row):
        if "boom" in completion:
            raise RuntimeError("provider down")
        if "garbage" in completion:
            return "no verdict here"
        return text_judge(prompt, completion)

    fn = jg.reward_fn(judge, metajudge=mj(server), verdict=SPEC, cache=False)
    out = fn(["q"] * 3, ["boom", "garbage", "fine support=0.6 verdict=pass"])
    assert out == pytest.approx([None, None, 0.6])
    assert fn.last_batch.reasons == {"error:judge_error": 1, "unparsed:verdict_not_found": 1}
    assert "provider down" in fn.last_checks[0].error


def test_template_naming_a_missing_column_raises_a_typed_error(server):
    fn = jg.reward_fn(llm_judge(server), metajudge=mj(server), cache=False)
    with pytest.raises(rewards.RewardConfigError, match="reference"):
        fn(["q"], ["a"])
    with pytest.raises(rewards.RewardConfigError, match="align"):
        fn(["q", "r"], ["a"])
    with pytest.raises(rewards.RewardConfigError):
        jg.LLMJudge("openai/x", prompt="no completion field here")


async def test_async_variant_and_bounded_concurrency(server):
    live, peak = 0, 0

    async def judge(prompt, completion, **row):
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0.01)
        live -= 1
        return text_judge(prompt, completion)

    fn = jg.reward_fn(
        judge, metajudge=mj(server), verdict=SPEC, cache=False, concurrency=3, asynchronous=True
    )
    assert asyncio.iscoroutinefunction(fn) and fn.__name__ == "judgeguard"
    out = await fn(["q"] * 10, [f"c{i} support=0.5" for i in range(10)])
    assert out == pytest.approx([0.5] * 10)
    assert peak == 3
    assert fn.metrics()["judgeguard/batch_size"] == 10.0
    # the sync variant also works from inside a running event loop
    sync = jg.reward_fn(text_judge, metajudge=mj(server), verdict=SPEC, cache=False)
    assert sync(["q"], ["c support=0.5"]) == pytest.approx([0.5])


def test_a_guarded_judge_is_checked_once_with_its_own_metajudge(server):
    results = []
    guarded = jg.guard(text_judge, metajudge=mj(server), verdict=SPEC, on_result=results.append)
    fn = jg.reward_fn(guarded, cache=False)
    assert fn(["q", "q"], ["a support=0.6", "b support=0.8"]) == pytest.approx([0.6, 0.8])
    assert jg.flush(5) == 0
    assert results == [] and len(mj_requests(server)) == 2


def test_without_a_metajudge_rewards_are_none_and_say_why(server):
    fn = jg.reward_fn(text_judge, verdict=SPEC, cache=False)
    assert fn(["q"], ["a"]) == [None]
    assert fn.last_batch.reasons == {"skipped:no_metajudge": 1}


def test_presets_parse_their_own_answer_format():
    for name, (_template, spec) in rewards.PRESETS.items():
        answer = {
            "pointwise": "Clear and correct.\n\nRating: [[8]]",
            "reference": "Matches the reference.\n\nLabel: pass",
            "pairwise": "A is right, B is not.\n\nMy final verdict is: [[A>B]]",
        }[name]
        assert jg.parse(answer, spec).verdict.outcome() > 0.5, name
        msgs = jg.LLMJudge("openai/x", prompt=name).messages(
            "Q?", "ANS", reference="R", baseline="B"
        )
        assert "Q?" in msgs[-1]["content"] and "ANS" in msgs[-1]["content"]


def test_verl_compute_score_from_a_config_file(server, tmp_path, monkeypatch):
    config = {
        "judge_model": "openai/" + JUDGE_MODEL,
        "judge_prompt": "reference",
        "judge_kwargs": {"api_base": server.base_url, "api_key": "k", "retries": 0},
        "metajudge": "openai/judge-test",
        "metajudge_kwargs": {"api_base": server.base_url, "api_key": "k", "retries": 0},
        "cache": False,
    }
    path = tmp_path / "reward.json"
    path.write_text(json.dumps(config))
    monkeypatch.setenv("JUDGEGUARD_REWARD_CONFIG", str(path))
    monkeypatch.setattr(rewards, "_default", None)
    one = rewards.compute_score(
        "gsm8k", "It is 4. support=0.75 verdict=pass", "4", {"question": "2+2?"}
    )
    assert one == {
        "score": pytest.approx(0.75), "r_rationale": pytest.approx(0.75), "r_outcome": 1.0,
        "needs_review": False, "check_failed": False,
    }  # fmt: skip
    judge_reqs = [r for r in server.requests if r.get("model") == JUDGE_MODEL]
    sent = judge_reqs[-1]["messages"][-1]["content"]
    assert "2+2?" in sent and "[Reference answer]\n4" in sent
    many = rewards.compute_score_batch(
        ["a", "b"], ["x support=0.2 verdict=pass", "y verdict=fail"], ["1", "2"], None
    )
    assert [m["score"] for m in many] == pytest.approx([0.2, 0.0])
    assert many[0]["needs_review"] is True  # R_rationale 0.2 < 0.3


def test_verl_config_errors_are_clear(tmp_path, monkeypatch):
    monkeypatch.delenv("JUDGEGUARD_REWARD_CONFIG", raising=False)
    for var in ("JUDGEGUARD_JUDGE", "JUDGEGUARD_JUDGE_MODEL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(rewards.RewardConfigError, match="no judge configured"):
        rewards.from_config(rewards._load_config())
    with pytest.raises(rewards.RewardConfigError, match="unknown reward settings"):
        rewards.from_config({"judge_model": "openai/x", "temprature": 0})
    monkeypatch.setenv("JUDGEGUARD_JUDGE", "reward_helpers:text_judge")
    rf = rewards.from_config(rewards._load_config())
    assert rf.judge is text_judge
