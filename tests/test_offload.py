"""offload="process": checks run in a worker process, results and telemetry come back.

One worker process serves the whole test session (it starts on first use); tests that
need a fresh one kill it, and the next check starts another.
"""

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from guard_helpers import B_WINS, metric_points, mj_for, verdict_text
from loopback import LoopbackLLM, Reply
from opentelemetry.trace import SpanKind

import judgeguard as jg
from judgeguard import semconv as sc
from judgeguard.guarding import GuardConfigError
from judgeguard.offload import get_worker

pytestmark = pytest.mark.usefixtures("isolated_judgeguard")


@pytest.fixture(name="loopback_llm")
def _one_loopback():
    """These tests are about the hand-off to the worker: the default transport is enough
    (and the warnings they look for are logged once per process)."""
    with LoopbackLLM() as server:
        yield server


def comparable(check):
    data = check.model_dump(exclude={"latency_s", "judgment"})
    data["rationale"] = check.judgment.rationale if check.judgment is not None else None
    return data


@pytest.mark.parametrize(
    "output", [verdict_text(1), verdict_text(2, "A=B"), "no verdict in here at all"]
)
def test_process_checks_equal_thread_checks(loopback_llm, output):
    loopback_llm.responder = lambda body: B_WINS
    by_mode = {}
    for mode in ("thread", "process"):
        judge = jg.guard(lambda: output, metajudge=mj_for(loopback_llm), cache=False, offload=mode)
        result = judge.run()
        assert result.output is output
        by_mode[mode] = comparable(result.check(60))
    assert by_mode["process"] == by_mode["thread"]
    assert get_worker().process is not None
    assert get_worker().process.pid != os.getpid()


def test_offload_from_the_environment_and_bad_values(monkeypatch):
    monkeypatch.setenv("JUDGEGUARD_OFFLOAD", "process")
    assert jg.guard(lambda: "x").checker.offload == "process"
    monkeypatch.setenv("JUDGEGUARD_OFFLOAD", "processes")
    with pytest.raises(GuardConfigError, match="offload must be"):
        jg.guard(lambda: "x")
    with pytest.raises(GuardConfigError, match="offload must be"):
        jg.guard(lambda: "x", offload="fork")


def test_many_offloaded_checks_all_end_and_the_judgment_comes_back(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    judge = jg.guard(verdict_text, metajudge=mj_for(loopback_llm), cache=False, offload="process")
    results = [judge.run(i) for i in range(60)]
    statuses = [r.check(60).status for r in results]
    assert statuses == ["consistent"] * 60
    # the worker's parse is handed back: no second parse here
    assert results[7]._lazy.peek()[0] is results[7].check().judgment
    assert results[7].judgment.verdict.render() == "B>>A"


def test_cache_hits_in_the_worker_are_counted_here(loopback_llm, tmp_path):
    loopback_llm.responder = lambda body: B_WINS
    cache = jg.DiskCache(tmp_path / "c")
    judge = jg.guard(verdict_text, metajudge=mj_for(loopback_llm), cache=cache, offload="process")
    first = judge.run(3).check(60)
    second = judge.run(3).check(60)
    assert (first.cached, second.cached) == (False, True)
    assert len(loopback_llm.requests) == 1
    assert (cache.hits, cache.misses) == (1, 1)


def test_unpicklable_output_is_checked_in_this_process(loopback_llm, caplog):
    loopback_llm.responder = lambda body: B_WINS
    output = {  # a lock does not pickle
        "reasoning": "Assistant A skips the last element; Assistant B handles it.",
        "verdict": "B>>A",
        "lock": threading.Lock(),
    }
    judge = jg.guard(lambda: output, metajudge=mj_for(loopback_llm), cache=False, offload="process")
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        check = judge.run().check(60)
    assert check.status == "consistent"
    assert "does not pickle" in caplog.text


def test_unpicklable_metajudge_is_used_in_this_process(loopback_llm, caplog):
    class LocalMetaJudge(jg.MetaJudge):  # a local class does not pickle
        pass

    loopback_llm.responder = lambda body: B_WINS
    mj = LocalMetaJudge("openai/judge-test", api_base=loopback_llm.base_url, api_key="k")
    judge = jg.guard(verdict_text, metajudge=mj, cache=False, offload="process")
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        assert judge.run().check(60).status == "consistent"
    assert "settings do not pickle" in caplog.text


def test_settings_the_worker_cannot_import_fall_back(loopback_llm, tmp_path, monkeypatch):
    loopback_llm.responder = lambda body: B_WINS
    warm = jg.guard(verdict_text, cache=False, offload="process")
    assert warm.run().check(60).status == "skipped"  # the worker runs, with its sys.path
    (tmp_path / "jg_probe_metajudge.py").write_text(
        "import judgeguard as jg\nclass ProbeMetaJudge(jg.MetaJudge):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from jg_probe_metajudge import ProbeMetaJudge  # importable here, not in the worker

    mj = ProbeMetaJudge("openai/judge-test", api_base=loopback_llm.base_url, api_key="k")
    judge = jg.guard(verdict_text, metajudge=mj, cache=False, offload="process")
    assert [judge.run(i).check(60).status for i in range(3)] == ["consistent"] * 3
    sys.modules.pop("jg_probe_metajudge", None)


def test_registered_formats_reach_the_worker(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    jg.register_format("house_grade", r"HOUSE-GRADE=(?P<verdict>B>>A|A>>B)")
    try:
        text = (
            "Assistant A's loop never reads the last element, so find([1, 2, 3], 3) fails.\n\n"
            "Assistant B's loop is correct and also handles the empty list.\n\nHOUSE-GRADE=B>>A"
        )
        judge = jg.guard(
            lambda: text, metajudge=mj_for(loopback_llm), cache=False, offload="process"
        )
        check = judge.run().check(60)
        assert check.status == "consistent"
        assert check.judgment.format == "house_grade"
    finally:
        jg.unregister_format("house_grade")


def test_a_function_format_that_does_not_pickle_still_parses(loopback_llm, caplog):
    loopback_llm.responder = lambda body: B_WINS
    jg.register_format("lambda_grade", function=lambda text: jg.Verdict.pairwise("B", 2))
    try:
        text = "Only B handles the empty list and the last element."
        judge = jg.guard(
            lambda: text, metajudge=mj_for(loopback_llm), cache=False, offload="process"
        )
        with caplog.at_level(logging.WARNING, logger="judgeguard"):
            check = judge.run().check(60)
        assert check.judgment.format == "lambda_grade"
    finally:
        jg.unregister_format("lambda_grade")


def test_a_dead_worker_loses_no_check(loopback_llm):
    loopback_llm.responder = lambda body: Reply(content=B_WINS, delay=0.5)
    judge = jg.guard(verdict_text, metajudge=mj_for(loopback_llm), cache=False, offload="process")
    judge.run(0).check(60)  # the worker is up
    results = [judge.run(i) for i in range(1, 4)]
    time.sleep(0.2)
    get_worker().process.kill()
    assert [r.check(60).status for r in results] == ["consistent"] * 3
    assert judge.run(9).check(60).status == "consistent"  # a new worker starts


# -- telemetry ------------------------------------------------------------------------------
@pytest.mark.parametrize("wait", [False, True])
@pytest.mark.parametrize("mode", ["process", "thread"])
def test_worker_spans_and_metrics_are_replayed_here(loopback_llm, otel, wait, mode):
    """Process mode replays what thread mode records, into the guard's own telemetry
    (not the process default: CLIENT spans included)."""
    exporter, reader, telemetry = otel.exporter, otel.reader, otel.telemetry
    loopback_llm.responder = lambda body: B_WINS
    judge = jg.guard(
        verdict_text, metajudge=mj_for(loopback_llm), cache=False, offload=mode,
        telemetry=telemetry, wait=wait, name="pairwise",
    )  # fmt: skip
    check = judge.run(6).check(60)
    jg.flush(10)
    by_name = {s.name: s for s in exporter.get_finished_spans()}
    judge_span = by_name["judge pairwise"]
    evaluator = by_name[sc.SPAN_EVALUATOR]
    client = by_name["chat judge-test"]
    assert client.kind is SpanKind.CLIENT
    assert client.parent.span_id == evaluator.context.span_id
    assert client.context.trace_id == evaluator.context.trace_id
    assert client.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0
    # in the judge's trace also in the background (wait=False): issue 15
    assert evaluator.parent.span_id == judge_span.context.span_id
    assert evaluator.context.trace_id == judge_span.context.trace_id
    assert (check.trace_id, check.span_id, check.evaluator_span_id) == (
        f"{judge_span.context.trace_id:032x}",
        f"{judge_span.context.span_id:016x}",
        f"{evaluator.context.span_id:016x}",
    )
    assert evaluator.attributes[sc.JUDGEGUARD_VERDICT] == "B>>A"
    assert sc.JUDGEGUARD_VERDICT not in judge_span.attributes  # no parse in the judge's thread
    assert evaluator.attributes[sc.JUDGEGUARD_R_RATIONALE] == pytest.approx(check.r_rationale)
    events = {e.attributes[sc.GEN_AI_EVALUATION_NAME] for e in evaluator.events}
    assert events == {sc.EVALUATION_RATIONALE_CONSISTENCY, sc.EVALUATION_GATED_REWARD}
    # recorded in the worker, the timestamps still order the story
    assert evaluator.start_time <= client.start_time <= client.end_time <= evaluator.end_time
    assert judge_span.start_time <= evaluator.start_time
    assert sc.GEN_AI_EVALUATION_EXPLANATION not in str([e.attributes for e in evaluator.events])
    (count,) = metric_points(reader, sc.METRIC_CHECKS)
    assert count.value == 1
    assert count.attributes[sc.JUDGEGUARD_CHECK_STATUS] == "consistent"
    (reward,) = metric_points(reader, sc.METRIC_RATIONALE_REWARD)
    assert reward.sum == pytest.approx(check.r_rationale)


def test_content_capture_is_honoured_in_the_worker(loopback_llm, otel):
    exporter, telemetry = otel.exporter, otel.telemetry
    telemetry.capture_content = True
    loopback_llm.responder = lambda body: B_WINS
    judge = jg.guard(
        verdict_text, metajudge=mj_for(loopback_llm), cache=False, offload="process",
        telemetry=telemetry,
    )  # fmt: skip
    judge.run(7).check(60)
    jg.flush(10)
    (evaluator,) = [s for s in exporter.get_finished_spans() if s.name == sc.SPAN_EVALUATOR]
    explanations = [e.attributes.get(sc.GEN_AI_EVALUATION_EXPLANATION) for e in evaluator.events]
    assert "B's loop is correct." in explanations


# -- process lifetime -------------------------------------------------------------------------
def test_exit_hook_finishes_offloaded_checks_and_the_worker_exits(loopback_llm, tmp_path):
    loopback_llm.responder = lambda body: Reply(content=B_WINS, delay=0.3)
    out = tmp_path / "results.txt"
    pid_file = tmp_path / "worker.pid"
    code = f"""
        import judgeguard as jg
        from judgeguard.offload import get_worker
        f = open({str(out)!r}, "a")
        def record(check):
            f.write(check.status + "\\n"); f.flush()
        mj = jg.MetaJudge("openai/judge-test", api_base={loopback_llm.base_url!r}, api_key="k")
        judge = jg.guard(lambda i: "A skips the end; B is right (case %d).\\n[[B>A]]" % i,
                         metajudge=mj, on_result=record, cache=False, offload="process")
        for i in range(5):
            judge(i)
        import time
        while get_worker().process is None:
            time.sleep(0.01)
        open({str(pid_file)!r}, "w").write(str(get_worker().process.pid))
        # exits right away: the exit hook must finish the 5 checks
    """
    # the worker's start (a fresh interpreter importing litellm) can take over the default
    # 10 s exit budget on a loaded machine: the test is about finishing, not about speed
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "JUDGEGUARD_EXIT_TIMEOUT": "60"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().split() == ["consistent"] * 5
    worker_pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{worker_pid}"):
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{worker_pid}"), "the worker outlived its caller"


def test_a_hung_offloaded_check_times_out_and_the_worker_goes_on(loopback_llm):
    from loopback import Hang

    loopback_llm.responder = lambda body: Hang(seconds=5) if "Case 1" in str(body) else B_WINS
    judge = jg.guard(verdict_text, metajudge=mj_for(loopback_llm), cache=False, offload="process")
    judge.run(0).check(60)  # the worker is up, litellm imported (seconds, the first time)
    short = jg.Dispatcher(check_timeout=0.5)
    jg.set_dispatcher(short)  # the fixture restores the default
    hung = judge.run(1)
    assert hung.check(10).reason == "check_timeout"
    after = judge.run(2).check(10)
    assert after.status == "consistent", after
    short.close(1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_worker(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    judge = jg.guard(verdict_text, metajudge=mj_for(loopback_llm), cache=False, offload="process")
    assert judge.run(0).check(60).status == "consistent"
    parent_worker = get_worker().process.pid
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            status = judge.run(1).check(60).status
            os.write(write, f"{status} {get_worker().process.pid}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    status, child_worker = os.read(read, 100).decode().split()
    os.close(read)
    assert status == "consistent"
    assert int(child_worker) != parent_worker
    assert judge.run(2).check(60).status == "consistent"  # the parent's worker still serves
    assert get_worker().process.pid == parent_worker


def test_a_worker_that_cannot_start_leaves_checks_in_process(loopback_llm, monkeypatch, caplog):
    import judgeguard.offload as offload

    starts = []

    def refuse(*args, **kwargs):
        starts.append(args)
        raise OSError("no processes here")

    monkeypatch.setattr(offload.subprocess, "Popen", refuse)
    monkeypatch.setattr(offload, "_worker", offload.CheckWorker())  # not the running one
    monkeypatch.setattr(offload, "_warned", set())
    loopback_llm.responder = lambda body: B_WINS
    judge = jg.guard(verdict_text, metajudge=mj_for(loopback_llm), cache=False, offload="process")
    with caplog.at_level(logging.WARNING, logger="judgeguard"):
        assert [judge.run(i).check(60).status for i in range(3)] == ["consistent"] * 3
    assert "could not start the check worker (no processes here)" in caplog.text
    assert len(starts) == 1  # no new attempt for every check


async def test_async_judges_offload_too(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS

    async def judge(i):
        await asyncio.sleep(0)
        return verdict_text(i)

    guarded = jg.guard(judge, metajudge=mj_for(loopback_llm), cache=False, offload="process")
    results = await asyncio.gather(*(guarded.arun(i) for i in range(10)))
    checks = [await r.acheck() for r in results]
    assert [c.status for c in checks] == ["consistent"] * 10
    assert await guarded(3) == verdict_text(3)


# -- CPU priority of background work ------------------------------------------------------------
def _loop_thread_nice(dispatcher):
    seen = []
    done = threading.Event()

    def probe():
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        done.set()

    dispatcher.prime(probe)
    assert done.wait(10)
    dispatcher.close(1)
    return seen[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_background_work_runs_at_a_lower_priority(monkeypatch, loopback_llm):
    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    monkeypatch.delenv("JUDGEGUARD_NICE", raising=False)
    assert _loop_thread_nice(jg.Dispatcher()) == min(19, ours + 10)
    assert _loop_thread_nice(jg.Dispatcher(nice=0)) == ours  # e.g. the audit's
    monkeypatch.setenv("JUDGEGUARD_NICE", "3")
    assert _loop_thread_nice(jg.Dispatcher()) == min(19, ours + 3)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ours  # caller untouched
    loopback_llm.responder = lambda body: B_WINS
    judge = jg.guard(verdict_text, cache=False, offload="process")
    judge.run().check(60)
    worker_nice = os.getpriority(os.PRIO_PROCESS, get_worker().process.pid)
    assert worker_nice > ours  # the worker's own nice was set as it started (default 10)


@pytest.mark.parametrize("transport", ["auto", "litellm"])
def test_the_worker_imports_only_what_its_metajudges_transport_needs(
    loopback_llm, tmp_path, transport
):
    """A fresh worker imports litellm (seconds) only for a MetaJudge that goes through
    it: on the fast path (``openai/…`` under ``auto``) it loads aiohttp and no litellm."""
    loopback_llm.responder = lambda body: B_WINS
    seen = tmp_path / "seen.json"
    (tmp_path / "jg_worker_probe.py").write_text(
        textwrap.dedent(f"""
        import json, sys
        def probe(text):  # a registered format: runs in the worker, at parse time
            mods = sorted({{m.split(".")[0] for m in sys.modules}} & {{"litellm", "aiohttp"}})
            open({str(seen)!r}, "w").write(json.dumps(mods))
            return None
        """)
    )
    code = f"""
        import judgeguard as jg
        from jg_worker_probe import probe
        jg.register_format("probe", function=probe)
        mj = jg.MetaJudge("openai/judge-test", api_base={loopback_llm.base_url!r}, api_key="k")
        judge = jg.guard(lambda: "A skips the end; B is right.\\n[[B>A]]",
                         metajudge=mj, cache=False, offload="process")
        print(judge.run().check(120).status)
    """
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "JUDGEGUARD_TRANSPORT": transport,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["consistent"]
    expected = ["aiohttp"] if transport == "auto" else ["aiohttp", "litellm"]
    assert json.loads(seen.read_text()) == expected


def test_background_checks_start_after_the_judge_has_moved_on():
    # the default dispatcher starts a batch BACKGROUND_START_DELAY after its first job (so
    # a check does not hold the GIL while the judge's next call sends); jobs submitted
    # meanwhile join that batch; a private dispatcher (the audit's) starts at once
    from judgeguard.dispatch import BACKGROUND_START_DELAY, get_dispatcher

    previous = jg.set_dispatcher(None)  # the one a process makes for itself
    try:
        assert get_dispatcher().start_delay == BACKGROUND_START_DELAY > 0
    finally:
        jg.set_dispatcher(previous).close(1)
    assert jg.Dispatcher().start_delay == 0
    dispatcher = jg.Dispatcher(start_delay=0.2)
    started: list[float] = []

    def job():
        async def run():
            started.append(time.monotonic())
            return "done"

        return run()

    def fallback(status, reason, message):
        return status

    t0 = time.monotonic()
    first = dispatcher.submit(job, fallback)
    time.sleep(0.05)
    second = dispatcher.submit(job, fallback)
    assert first.result(10) == second.result(10) == "done"
    assert min(started) - t0 >= 0.2  # not before the delay
    assert max(started) - min(started) < 0.1  # one batch
    dispatcher.close(1)
