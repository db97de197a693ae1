"""The guard: identity of outputs, background checks, handles, cache, dispatcher, exit hook."""

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from guard_helpers import B_WINS, mj_for, verdict_text
from loopback import Hang, Reply

import judgeguard as jg

pytestmark = pytest.mark.usefixtures("isolated_judgeguard")


class Output:
    """An arbitrary object a judge might return (identity must be preserved)."""

    def __init__(self, text):
        self.content = text
        self.additional_kwargs = {}


def test_returns_the_very_same_object_and_checks_in_the_background(loopback_llm):
    loopback_llm.script(B_WINS)
    results = []
    out = Output(verdict_text())

    @jg.guard(metajudge=mj_for(loopback_llm), on_result=results.append)
    def judge(question, answer_a, answer_b):
        """Compare two answers."""
        return out

    assert judge("q", "a", "b") is out
    assert judge.__doc__ == "Compare two answers." and judge.__name__ == "judge"
    assert jg.flush(10) == 0
    (check,) = results
    assert check.status == "consistent" and check.reward == 0.0
    assert check.judgment.verdict.render() == "B>>A"
    req = loopback_llm.requests[0]["messages"][1]["content"]
    assert "QUESTION" in req and "RESPONSE_A" in req  # context from parameter names


def test_run_handle(loopback_llm):
    loopback_llm.script(B_WINS)
    judge = jg.guard(lambda question: verdict_text(), metajudge=mj_for(loopback_llm))
    r = judge.run("q")
    assert r.output == verdict_text()
    assert r.judgment.verdict.render() == "B>>A"
    assert r.check(10).status == "consistent"
    assert r.reward(10) == 0.0 and r.done()


async def test_async_judge_and_arun(loopback_llm):
    loopback_llm.script(B_WINS, B_WINS)
    sentinel = {"reasoning": "A skips the last element; B is correct.", "winner": "B"}

    @jg.guard(metajudge=mj_for(loopback_llm))
    async def judge(question):
        await asyncio.sleep(0)
        return sentinel

    assert await judge("q") is sentinel
    assert await asyncio.to_thread(jg.flush, 10) == 0
    r = await judge.arun("q")
    check = await r.acheck()
    assert check.status == "consistent" and check.cached is True  # same inputs: cache hit
    assert len(loopback_llm.requests) == 1


def test_methods_are_guarded(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS

    class Judge:
        def __init__(self):
            self.calls = 0

        @jg.guard(metajudge=mj_for(loopback_llm))
        def __call__(self, question):
            self.calls += 1
            return verdict_text()

    j = Judge()
    assert j("q") == verdict_text() and j.calls == 1
    r = type(j).__call__.__get__(j).run("q")
    assert r.check(10).status == "consistent" and j.calls == 2


def test_wait_true_returns_after_the_check(loopback_llm):
    loopback_llm.script(Reply(content=B_WINS, delay=0.2))
    judge = jg.guard(lambda: verdict_text(), metajudge=mj_for(loopback_llm), wait=True)
    r = judge.run()
    assert r.done() and r.check(0).status == "consistent"


def test_judge_exceptions_propagate_unchanged(loopback_llm):
    boom = KeyError("judge broke")

    @jg.guard(metajudge=mj_for(loopback_llm))
    def judge():
        raise boom

    with pytest.raises(KeyError) as info:
        judge()
    assert info.value is boom
    assert loopback_llm.requests == []


@pytest.mark.parametrize(
    "reply", [Hang(), Reply(status=500), "not json at all", Reply(content="", raw_body=b"{broken")]
)
def test_failing_metajudge_never_delays_or_breaks_the_judge(loopback_llm, reply):
    loopback_llm.script(reply, reply)
    results = []
    judge = jg.guard(
        lambda: verdict_text(),
        metajudge=mj_for(loopback_llm, timeout=0.5),
        on_result=results.append,
    )
    t = time.perf_counter()
    assert judge() == verdict_text()
    assert time.perf_counter() - t < 0.25  # returned long before the MetaJudge answered
    assert jg.flush(15) == 0
    assert results[0].status == "error" and results[0].reward is None


def test_unparsed_output_is_recorded_not_scored(loopback_llm):
    results = []
    judge = jg.guard(
        lambda: "I cannot decide.", metajudge=mj_for(loopback_llm), on_result=results.append
    )
    r = judge.run()
    check = r.check(10)
    assert (check.status, check.reason) == ("unparsed", "verdict_not_found")
    assert check.reward is None and r.judgment is None
    assert loopback_llm.requests == []
    strict = jg.guard(
        lambda: "I cannot decide.", metajudge=mj_for(loopback_llm), on_unparsed="raise"
    )
    with pytest.raises(jg.VerdictNotFound):
        strict()


def test_sampling_and_missing_metajudge():
    judge = jg.guard(lambda: verdict_text(), sample=0.0)
    c = judge.run().check(1)
    assert (c.status, c.reason) == ("skipped", "sampled_out")
    c = jg.guard(lambda: verdict_text()).run().check(10)
    assert (c.status, c.reason) == ("skipped", "no_metajudge")
    assert c.r_outcome == 0.0  # the outcome still counts without a MetaJudge


def test_metajudge_from_environment(loopback_llm, monkeypatch):
    monkeypatch.setenv("JUDGEGUARD_METAJUDGE", "openai/judge-test")
    judge = jg.guard(lambda: verdict_text())
    assert judge.metajudge.models == ("openai/judge-test",)


def test_context_label_and_reference(loopback_llm):
    loopback_llm.script(
        B_WINS,
        json.dumps({"reasons": ["A skips the last element"]}),
        "<RESULT_START>\n- R1@S1: 1\n<RESULT_END>",
    )

    @jg.guard(
        metajudge=mj_for(loopback_llm),
        context={"question": "q", "label": "gold", "reference": "why"},
    )
    def judge(q, gold, why):
        return verdict_text()

    check = judge.run("Write search", "B>A", ["A misses the last element"]).check(10)
    assert check.r_outcome == 1.0 and check.reward == pytest.approx(0.9)
    assert check.reference_match.recall == 1.0
    prompt = loopback_llm.requests[0]["messages"][1]["content"]
    assert "Write search" in prompt and "B>A" not in prompt.split("REASONING")[0]


def test_context_function_and_bad_names(loopback_llm):
    loopback_llm.script(B_WINS)
    judge = jg.guard(
        lambda x: verdict_text(),
        metajudge=mj_for(loopback_llm),
        context=lambda x: {"question": x.upper()},
    )
    judge.run("hello").check(10)
    assert "HELLO" in loopback_llm.requests[0]["messages"][1]["content"]
    # a name the judge has no parameter for is a configuration error, found at decoration
    with pytest.raises(jg.GuardConfigError, match="nope"):
        jg.guard(lambda x: verdict_text(), metajudge=mj_for(loopback_llm), context=["nope"])
    # a parameter the call leaves out: the judge's result comes back, the check says why
    partial = jg.guard(lambda x, rubric=None, **kw: verdict_text(), context={"rubric": "criteria"})
    r = partial.run("x")
    assert r.output == verdict_text()
    check = r.check(10)
    assert (check.status, check.reason) == ("error", "bad_context")
    assert "criteria" in check.error


def test_bad_options_are_typed_errors():
    with pytest.raises(jg.GuardConfigError):
        jg.guard(lambda: "", sample=2)
    with pytest.raises(jg.GuardConfigError):
        jg.guard(lambda: "", metajudge=42)
    with pytest.raises(jg.InvalidVerdictSpec):
        jg.guard(lambda: "", verdict="score:9-1")


# -- cache -------------------------------------------------------------------------------
def test_second_identical_check_is_free_and_marked_cached(loopback_llm, tmp_path):
    loopback_llm.script(B_WINS)
    cache = jg.DiskCache(tmp_path / "c")
    judge = jg.guard(lambda: verdict_text(), metajudge=mj_for(loopback_llm), cache=cache)
    first, second = judge.run().check(10), judge.run().check(10)
    assert (first.cached, second.cached) == (False, True)
    assert second.r_rationale == first.r_rationale
    assert len(loopback_llm.requests) == 1
    assert (cache.hits, cache.misses) == (1, 1)


def test_errors_are_never_cached(loopback_llm, tmp_path):
    loopback_llm.script(Reply(status=500), B_WINS)
    cache = jg.DiskCache(tmp_path / "c")
    judge = jg.guard(lambda: verdict_text(), metajudge=mj_for(loopback_llm), cache=cache)
    assert judge.run().check(10).status == "error"
    assert len(cache) == 0
    assert judge.run().check(10).status == "consistent"
    assert len(cache) == 1 and len(loopback_llm.requests) == 2


def test_cache_false_and_cache_path(loopback_llm, tmp_path):
    loopback_llm.responder = lambda body: B_WINS
    off = jg.guard(lambda: verdict_text(), metajudge=mj_for(loopback_llm), cache=False)
    assert off.cache is None
    off.run().check(10)
    off.run().check(10)
    assert len(loopback_llm.requests) == 2
    by_path = jg.guard(
        lambda: verdict_text(), metajudge=mj_for(loopback_llm), cache=str(tmp_path / "p")
    )
    assert by_path.cache.directory == tmp_path / "p"


def test_cache_ttl_expires(loopback_llm, tmp_path):
    loopback_llm.responder = lambda body: B_WINS
    judge = jg.guard(
        lambda: verdict_text(),
        metajudge=mj_for(loopback_llm),
        cache=jg.DiskCache(tmp_path / "t", ttl=0.2),
    )
    judge.run().check(10)
    time.sleep(0.4)
    assert judge.run().check(10).cached is False


# -- dispatcher --------------------------------------------------------------------------
def test_queue_full_is_skipped_by_default_never_dropped(loopback_llm):
    loopback_llm.responder = lambda body: Hang(seconds=1.0)
    jg.set_dispatcher(jg.Dispatcher(concurrency=1, max_queue=2))
    results = []
    judge = jg.guard(
        lambda i: verdict_text(i),
        metajudge=mj_for(loopback_llm, timeout=3),
        on_result=results.append,
        cache=False,
    )
    handles = [judge.run(i) for i in range(5)]
    skipped = [h.check(0) for h in handles[2:]]
    assert all((c.status, c.reason) == ("skipped", "queue_full") for c in skipped)
    assert jg.flush(20) == 0
    assert len(results) == 5
    assert all(h.done() for h in handles)


def test_queue_full_waits_when_asked(loopback_llm):
    loopback_llm.responder = lambda body: Reply(content=B_WINS, delay=0.2)
    jg.set_dispatcher(jg.Dispatcher(concurrency=1, max_queue=1, on_full="wait"))
    judge = jg.guard(lambda i: verdict_text(i), metajudge=mj_for(loopback_llm), cache=False)
    t = time.perf_counter()
    handles = [judge.run(i) for i in range(3)]
    assert time.perf_counter() - t >= 0.3  # backpressure: the third call waited
    assert all(h.check(10).status == "consistent" for h in handles)


def test_check_timeout_is_a_terminal_status(loopback_llm):
    loopback_llm.responder = lambda body: Hang(seconds=2)
    jg.set_dispatcher(jg.Dispatcher(check_timeout=0.3))
    c = jg.guard(lambda: verdict_text(), metajudge=mj_for(loopback_llm, timeout=10)).run()
    assert (c.check(10).status, c.check(10).reason) == ("error", "check_timeout")


def test_callback_errors_do_not_break_anything(loopback_llm, caplog):
    loopback_llm.script(B_WINS)

    def bad(check):
        raise RuntimeError("callback bug")

    judge = jg.guard(lambda: verdict_text(), metajudge=mj_for(loopback_llm), on_result=bad)
    assert judge.run().check(10).status == "consistent"
    assert "on_result callback raised" in caplog.text


@pytest.mark.slow
def test_thousand_calls_with_twenty_percent_faults_all_end_terminal(loopback_llm, tmp_path):
    counter = iter(range(10**6))
    lock = threading.Lock()

    def responder(body):
        with lock:
            n = next(counter)
        if n % 10 == 3:
            return Reply(status=500)
        if n % 10 == 7:
            return "this is not the JSON you asked for"
        return B_WINS

    loopback_llm.responder = responder
    cache = jg.DiskCache(tmp_path / "load")
    results = []
    judge = jg.guard(
        lambda i: verdict_text(i),
        metajudge=mj_for(loopback_llm),
        on_result=results.append,
        cache=cache,
    )
    handles = [judge.run(i) for i in range(1000)]
    assert jg.flush(300) == 0
    statuses = [h.check(0).status for h in handles]
    assert len(results) == 1000 and len(statuses) == 1000
    assert set(statuses) <= {"consistent", "error"}
    assert statuses.count("error") > 0
    assert len(cache) == statuses.count("consistent")  # errors never cached


# -- processes ---------------------------------------------------------------------------
def _child(code, env_extra):
    env = {**os.environ, **env_extra, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_exit_hook_finishes_pending_checks(loopback_llm, tmp_path):
    loopback_llm.responder = lambda body: Reply(content=B_WINS, delay=0.3)
    out = tmp_path / "results.jsonl"
    code = f"""
        import judgeguard as jg
        f = open({str(out)!r}, "a")
        def record(check):
            f.write(check.status + "\\n"); f.flush()
        mj = jg.MetaJudge("openai/judge-test", api_base={loopback_llm.base_url!r}, api_key="k")
        judge = jg.guard(lambda i: "A skips the end; B is right (case %d).\\n[[B>A]]" % i,
                         metajudge=mj, on_result=record, cache=False)
        for i in range(5):
            judge(i)
        # exits right away: the exit hook must finish the 5 checks
    """
    proc = _child(code, {})
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().split() == ["consistent"] * 5


def test_exit_hook_reports_what_it_could_not_finish(loopback_llm, tmp_path):
    loopback_llm.responder = lambda body: Hang(seconds=30)
    code = f"""
        import judgeguard as jg
        mj = jg.MetaJudge("openai/judge-test", api_base={loopback_llm.base_url!r}, api_key="k")
        jg.guard(lambda: "A is wrong.\\n[[B>A]]", metajudge=mj, cache=False)()
    """
    t = time.perf_counter()
    proc = _child(code, {"JUDGEGUARD_EXIT_TIMEOUT": "0.5"})
    assert proc.returncode == 0
    assert time.perf_counter() - t < 30
    assert "1 check(s) did not finish within 0.5 s" in proc.stderr


def test_two_processes_share_the_cache(loopback_llm, tmp_path):
    loopback_llm.responder = lambda body: B_WINS
    code = f"""
        import sys, judgeguard as jg
        mj = jg.MetaJudge("openai/judge-test", api_base={loopback_llm.base_url!r}, api_key="k")
        judge = jg.guard(lambda: "A skips the end; B is right.\\n[[B>A]]", metajudge=mj)
        print(judge.run().check(30).cached)
    """
    env = {"JUDGEGUARD_CACHE_DIR": str(tmp_path / "shared")}
    first, second = _child(code, env), _child(code, env)
    last = (first.stdout.split()[-1], second.stdout.split()[-1])
    assert last == ("False", "True"), second.stderr
    assert len(loopback_llm.requests) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_its_own_dispatcher(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    judge = jg.guard(lambda: verdict_text(), metajudge=mj_for(loopback_llm), cache=False)
    assert judge.run().check(10).status == "consistent"  # the parent's loop is running
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            status = judge.run().check(20).status
            os.write(write, status.encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 100).decode() == "consistent"
