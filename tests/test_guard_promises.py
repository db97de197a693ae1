"""The guard's promise under attack (DESIGN §6): the judge's own object or exception back, no
delay, no frozen or broken threads, whatever the output, the context, the tracing, the
MetaJudge or the on_result callback does.

Import races need fresh processes: those tests run small scripts with ``subprocess``.
"""

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from guard_helpers import B_WINS, metric_points, mj_for, verdict_text
from loopback import Hang, Reply
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import judgeguard as jg
from judgeguard import semconv as sc
from judgeguard.telemetry import Telemetry

pytestmark = pytest.mark.usefixtures("isolated_judgeguard")
TESTS = Path(__file__).parent


def run_script(body, timeout=240, env=None):
    """Run ``body`` in a fresh interpreter (tests/ on the path); returns the process."""
    script = f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n" + textwrap.dedent(body)
    full_env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


# -- 1. no import on judgeguard's threads -------------------------------------------------
NO_BACKGROUND_IMPORTS = """
import json, threading
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from loopback import LoopbackLLM, Reply
from guard_helpers import B_WINS, mj_for, verdict_text
import judgeguard as jg

imports = []
sys.addaudithook(
    lambda event, args: event == "import"
    and imports.append((threading.current_thread().name, args[0]))
)
tp = TracerProvider()
tp.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
with LoopbackLLM() as server:
    server.script(B_WINS, Reply(status=500), "not json at all", B_WINS)
    judge = jg.guard(
        lambda i: verdict_text(i) if i != 2 else {"nothing": "here"},
        metajudge=mj_for(server),
        telemetry=jg.Telemetry(tp),
        cache=CACHE,
    )
    seen = len(imports)
    statuses = [judge.run(i).check(30).status for i in range(4)]
# (an attempt at a module that is not installed loads nothing, so it counts for nothing)
background = sorted(
    {m for t, m in imports[seen:] if t.startswith("judgeguard") and m in sys.modules}
)
print(json.dumps({"statuses": statuses, "background": background}))
"""


@pytest.mark.parametrize("transport", ["auto", "litellm"])  # auto: the aiohttp fast path
@pytest.mark.parametrize("cache", [False, True])
def test_the_dispatcher_thread_imports_nothing(tmp_path, cache, transport):
    """A module being imported is visible half-initialised to every thread: judgeguard's
    threads must not import while user code runs (the openai-SDK crash, class fix)."""
    proc = run_script(
        NO_BACKGROUND_IMPORTS.replace("CACHE", repr(str(tmp_path / "c") if cache else False)),
        env={"JUDGEGUARD_TRANSPORT": transport},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["statuses"][0] == "consistent"
    assert out["statuses"][2] == "unparsed"
    assert out["background"] == [], out["background"]


OPENAI_JUDGE_RACE = """
import importlib.abc, os, time
import openai  # the user's own client, imported first, as usual
from loopback import LoopbackLLM
from guard_helpers import B_WINS, mj_for, verdict_text
import judgeguard as jg


class SlowHttpx(importlib.abc.MetaPathFinder):
    # Widens the race window: httpx (imported by litellm) takes 50 ms per module to load.
    def find_spec(self, name, path, target=None):
        if not name.startswith("httpx") or name.startswith("httpx2"):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                run = spec.loader.exec_module
                def slow(module, run=run):
                    time.sleep(0.05)
                    run(module)
                spec.loader.exec_module = slow
                return spec
        return None


sys.meta_path.insert(0, SlowHttpx())
assert "httpx" not in sys.modules
with LoopbackLLM(responder=lambda body: B_WINS if "probabilities" in str(body)
                 else verdict_text()) as server:
    warm = jg.guard(lambda: verdict_text(), metajudge=mj_for(server), cache=False)

    @jg.guard(metajudge=mj_for(server), cache=False)
    def judge(question):
        client = openai.OpenAI(base_url=server.base_url, api_key="k")
        reply = client.chat.completions.create(
            model="judge", messages=[{"role": "user", "content": question}]
        )
        return reply.choices[0].message.content

    warm()  # the first check: whatever judgeguard still has to do, it does now
    calls, end = 0, time.time() + 2.0
    while time.time() < end:  # the user's calls go on meanwhile
        judge(f"q{calls}")
        calls += 1
    assert jg.flush(30) == 0
print("calls", calls)
"""


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_openai_sdk_judge_never_sees_a_half_imported_module(attempt):
    proc = run_script(OPENAI_JUDGE_RACE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "partially initialized" not in proc.stderr
    assert int(proc.stdout.split()[-1]) > 5


# -- 2. nothing judgeguard does raises out of a guarded call -------------------------------
class Unprintable:
    def __str__(self):
        raise RuntimeError("str() of this object raises")

    __repr__ = __str__


def deep_dict(depth):
    out = {"score": 5}
    for _ in range(depth):
        out = {"inner": out}
    return out


HOSTILE_OUTPUTS = {
    "str_raises": Unprintable(),
    "huge_int": {"reasoning": "fine", "score": 10**5000},
    "deep_dict": deep_dict(5000),
    "lone_surrogate": "A is wrong \ud800. My final verdict is: [[B>>A]]",
    "bytes": b"\xff\xfe My final verdict is: [[A>B]]",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_OUTPUTS))
@pytest.mark.parametrize("wait", [False, True])
def test_hostile_outputs_come_back_unchanged_with_tracing_on(otel, name, wait):
    output = HOSTILE_OUTPUTS[name]
    judge = jg.guard(lambda: output, telemetry=otel.telemetry, wait=wait)
    assert judge() is output
    check = judge.run().check(30)
    assert check.status in {"unparsed", "skipped", "error"}, check
    assert check.reason


def test_context_failures_become_the_checks_status(otel):
    def broken_context(x):
        raise KeyError("no such column")

    judge = jg.guard(lambda x: verdict_text(), context=broken_context, telemetry=otel.telemetry)
    r = judge.run("x")
    assert r.output == verdict_text()
    assert (r.check(10).status, r.check(10).reason) == ("error", "bad_context")
    assert "no such column" in r.check(10).error


def test_a_broken_tracer_never_breaks_the_judge_call():
    class BrokenTracerProvider(TracerProvider):
        def get_tracer(self, *args, **kwargs):
            tracer = super().get_tracer(*args, **kwargs)

            class Broken(type(tracer)):
                def start_span(self, *a, **k):
                    raise RuntimeError("exporter exploded")

            tracer.__class__ = Broken
            return tracer

    judge = jg.guard(lambda: verdict_text(), telemetry=Telemetry(BrokenTracerProvider()))
    assert judge() == verdict_text()

    def failing():
        raise ValueError("the judge's own error")

    with pytest.raises(ValueError, match="the judge's own error"):
        jg.guard(failing, telemetry=Telemetry(BrokenTracerProvider()))()


def test_the_judges_own_exception_passes_unchanged(otel):
    error = ValueError("the judge's own error")

    def failing():
        raise error

    with pytest.raises(ValueError) as info:
        jg.guard(failing, telemetry=otel.telemetry)()
    assert info.value is error


# -- 5. a hung MetaJudge never delays the judge --------------------------------------------
def test_a_hung_metajudge_never_delays_the_judge(loopback_llm, caplog):
    loopback_llm.responder = lambda body: Hang(seconds=3)
    jg.set_dispatcher(jg.Dispatcher(concurrency=2, max_queue=4))  # on_full: the default
    judge = jg.guard(lambda i: verdict_text(i), metajudge=mj_for(loopback_llm, timeout=5))
    started = time.perf_counter()
    handles = [judge.run(i) for i in range(50)]
    assert time.perf_counter() - started < 1.0  # nobody waited for the hung MetaJudge
    skipped = [h.check(0) for h in handles[4:]]
    assert all((c.status, c.reason) == ("skipped", "queue_full") for c in skipped)
    assert caplog.text.count("the check queue is full") == 1  # once per burst


def test_skipped_checks_are_counted_in_metrics(loopback_llm, otel):
    loopback_llm.responder = lambda body: Hang(seconds=2)
    jg.set_dispatcher(jg.Dispatcher(concurrency=1, max_queue=1))
    judge = jg.guard(
        lambda i: verdict_text(i),
        metajudge=mj_for(loopback_llm, timeout=5),
        telemetry=otel.telemetry,
    )
    for i in range(4):
        judge.run(i)
    points = metric_points(otel.reader, sc.METRIC_CHECKS)
    skipped = sum(
        p.value for p in points if p.attributes.get(sc.JUDGEGUARD_CHECK_STATUS) == "skipped"
    )
    assert skipped == 3


# -- 6. on_result cannot hurt the dispatcher -----------------------------------------------
def test_flush_inside_on_result_does_not_deadlock(loopback_llm):
    loopback_llm.responder = lambda body: B_WINS
    returned = []

    def on_result(check):
        returned.append(jg.flush(5))

    judge = jg.guard(lambda i: verdict_text(i), metajudge=mj_for(loopback_llm), on_result=on_result)
    for i in range(3):
        judge.run(i)
    started = time.perf_counter()
    assert jg.flush(20) == 0
    assert time.perf_counter() - started < 10
    assert len(returned) == 3


def test_waiting_for_a_check_inside_on_result_is_a_clear_error(loopback_llm):
    loopback_llm.responder = lambda body: Reply(content=B_WINS, delay=0.3)
    errors = []
    other = jg.guard(lambda: verdict_text(), metajudge=mj_for(loopback_llm), cache=False)

    def on_result(check):
        try:
            other.run().check(5)
        except RuntimeError as exc:
            errors.append(str(exc))

    judge = jg.guard(lambda: verdict_text(1), metajudge=mj_for(loopback_llm), on_result=on_result)
    judge.run().check(10)
    assert jg.flush(20) == 0
    assert errors and "deadlock" in errors[0]


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), RuntimeError("bug")])
def test_any_exception_in_on_result_is_isolated_logged_and_counted(loopback_llm, otel, caplog, exc):
    loopback_llm.responder = lambda body: B_WINS

    def on_result(check):
        raise exc

    judge = jg.guard(
        lambda i: verdict_text(i),
        metajudge=mj_for(loopback_llm),
        on_result=on_result,
        telemetry=otel.telemetry,
    )
    checks = [judge.run(i).check(10) for i in range(3)]  # later checks still finish
    assert [c.status for c in checks] == ["consistent"] * 3
    assert caplog.text.count("on_result callback raised") == 3
    points = metric_points(otel.reader, sc.METRIC_CALLBACK_ERRORS)
    assert sum(p.value for p in points) == 3


# -- 7. on_result runs in the context of the call it reports on ----------------------------
def test_on_result_sees_the_judge_call_context(loopback_llm, otel):
    loopback_llm.responder = lambda body: B_WINS
    seen = {}
    lock = threading.Lock()

    def on_result(check):
        with lock:
            seen[check.judgment.raw if check.judgment else None] = trace.get_current_span()

    judge = jg.guard(
        lambda i: verdict_text(i),
        metajudge=mj_for(loopback_llm),
        on_result=on_result,
        telemetry=otel.telemetry,
    )
    judge_spans = {}
    for i in range(4):
        judge.run(i)
        judge_spans[verdict_text(i)] = otel.exporter.get_finished_spans()[-1]
    assert jg.flush(20) == 0
    for raw, span in judge_spans.items():
        assert span.name.startswith(sc.SPAN_JUDGE_PREFIX)
        assert seen[raw].get_span_context().span_id == span.context.span_id


def test_checks_do_not_run_under_a_stale_context(loopback_llm, otel):
    """Each MetaJudge call's span is a child of its own check's evaluator span, never of
    whatever span was current when the dispatcher first woke up."""
    loopback_llm.responder = lambda body: B_WINS
    judge = jg.guard(
        lambda i: verdict_text(i), metajudge=mj_for(loopback_llm), telemetry=otel.telemetry
    )
    for i in range(3):
        judge.run(i).check(10)
    finished = otel.exporter.get_finished_spans()
    evaluators = {s.context.span_id for s in finished if s.name == sc.SPAN_EVALUATOR}
    chat = [s for s in finished if s.name.startswith("chat ")]
    assert len(chat) == 3
    assert all(s.parent is not None and s.parent.span_id in evaluators for s in chat)


def test_a_crashed_checks_logged_traceback_has_credentials_redacted(caplog, monkeypatch):
    import judgeguard.pipeline as pipeline

    async def crash(*args, **kwargs):
        raise RuntimeError(
            "gateway said: bad key sk-live-0123456789abcdefghij for Bearer abc.def.ghi"
        )

    monkeypatch.setattr(pipeline, "run_check", crash)
    check = jg.guard(lambda: verdict_text()).run().check(10)
    assert (check.status, check.reason) == ("error", "internal_error")
    assert "a check crashed" in caplog.text
    assert "sk-live-0123456789abcdefghij" not in caplog.text
    assert "sk-live-0123456789abcdefghij" not in check.error
